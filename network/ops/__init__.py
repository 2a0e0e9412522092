"""Operations: what a load balancer, a monitor and a log shipper read of a running hub.

`health` answers /healthz, /readyz and /metrics; `access` gives every request
its id, its figures and its log line; `metrics` holds the figures, `logs` the
JSON lines, `probe` the bounded look at the database, `metrics_dir` where
gunicorn's workers keep their figures. Nothing here is imported by this
`__init__`: the domains count into `metrics` and must not pull in the HTTP
layer with it.
"""
