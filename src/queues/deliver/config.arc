# deliver posts one batch of a broadcast (src/ws/broadcast queues them).
# What it may touch on AWS, beyond its own logs and its queue (the sandbox enforces it, deploy writes it as the role).
@permissions
table connections BatchWriteItem  # delete the rows of gone connections, 25 a call
manage-connections POST       # post to each connection
