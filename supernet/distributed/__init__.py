"""Training and tuning on a Ray cluster.

- `cluster`: reaching a cluster (token authentication as Ray sets it) and checking it can host the workers;
- `sync`: one all-reduce per sandwich step, weight digests;
- `launch`: the driver of `supernet train --num-workers N` (`RayConfig`, `train_distributed`);
- `worker`: what each Ray Train worker runs;
- `tune`: the ASHA sweep of `supernet tune`;
- `cli`: the Ray options of `supernet train` and the `supernet tune` command.

Nothing here imports Ray or torch until it is used.
"""
