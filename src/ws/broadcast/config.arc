# broadcast hands one message to the deliver queue for every connection: its own, tighter stage throttle (docs/deploy.md).
@aws
timeout 29  # reading a large table takes a while; API Gateway's WebSocket integration waits at most 29 s
throttle-rate 2
throttle-burst 4

# What broadcast may touch on AWS, beyond its own logs (the sandbox enforces it, deploy writes it as the role).
@permissions
table connections Scan  # read every connection
queue deliver send      # hand them to deliver, in batches
manage-connections POST # answer its sender on error
