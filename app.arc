# The echo-chat app, in Architect's manifest format (arc.codes).
# Each pragma below becomes local routes in `make sandbox` and AWS resources in `make deploy-*`.

@app
mywsapp

@http
get /              # src/http/get-index: the chat page

@ws
# $connect, $default and $disconnect are always there (src/ws/connect, default, disconnect).
broadcast          # {"action": "broadcast", "text": ...} -> src/ws/broadcast

# This kit's (Architect ignores it): src/ws/authorize checks each visitor's token before $connect runs.
@ws-authorizer
authorize
  identity route.request.header.Sec-WebSocket-Protocol
@queues
# src/queues/deliver posts each batch of the fan-out (Architect's @queues; the options below are AWS's,
# see docs/deploy.md). Its dead-letter queue keeps what failed maxReceives times.
deliver
  batchSize 10
  maxReceives 5

@tables
connections
  connectionId *String
  expires TTL

@aws
runtime python3.13
architecture arm64
region us-east-1
memory 256
timeout 10
