# broadcast fans one message out to every connection: its own, tighter stage throttle (docs/deploy.md).
@aws
throttle-rate 2
throttle-burst 4

# What broadcast may touch on AWS, beyond its own logs (the sandbox enforces it, deploy writes it as the role).
@permissions
table connections Scan DeleteItem  # read every connection; delete the rows of gone ones
manage-connections POST            # send to every connection
