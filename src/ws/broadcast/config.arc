# What broadcast may touch on AWS, beyond its own logs (the sandbox enforces it, deploy writes it as the role).
@permissions
table connections Scan DeleteItem  # read every connection; delete the rows of gone ones
manage-connections POST            # send to every connection
