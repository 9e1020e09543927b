# deliver posts one batch of a broadcast (src/ws/broadcast queues them), and reads the table on when
# broadcast hands the rest of it over (shared.fanout).
# What it may touch on AWS, beyond its own logs and its queue (the sandbox enforces it, deploy writes it as the role).
@aws
timeout 29  # reading on takes as long as broadcast's own reading

@permissions
table connections Scan BatchWriteItem  # read on; delete the rows of gone connections, 25 a call
queue deliver send                     # enqueue what it reads on
manage-connections POST                # post to each connection
