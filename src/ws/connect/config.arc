# What $connect may touch on AWS, beyond its own logs (the sandbox enforces it, deploy writes it as the role).
@permissions
table connections PutItem          # store the new connection's row
