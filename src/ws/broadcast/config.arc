# broadcast fans one message out to every connection: its own, tighter stage throttle (docs/deploy.md).
@aws
throttle-rate 2
throttle-burst 4
