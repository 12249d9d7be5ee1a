"""PyTorch peer of `npm run bench -- eval`: exact cosine kNN as one writes it in PyTorch, normalise
+ mm + topk over query blocks, on the queries and references the bench wrote (float32, row-major
[nq + nr, d]). Prints one JSON line {seconds, cpuSeconds, threads} and writes the indices [nq, k]
(int32) next to the input for the bench's agreement check.

  python3 bench/peer-torch-knn.py FILE NQ NR D K [--threads N] [--block 1024] [--mm auto|mkldnn|blas]

`--mm`: Debian's PyTorch runs `torch.mm` on the system's generic libblas.so.3, which is whatever
BLAS the alternatives point at (the netlib reference BLAS, ~1-2 GFLOP/s, unless OpenBLAS or BLIS is
installed), so `auto` (default) takes PyTorch's oneDNN inner product (`mkldnn_linear`, the same
library as our native engine) when PyTorch has it, and `blas` measures plain `q @ r.T`.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("file")
p.add_argument("nq", type=int)
p.add_argument("nr", type=int)
p.add_argument("d", type=int)
p.add_argument("k", type=int)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--block", type=int, default=1024)
p.add_argument("--mm", choices=["auto", "mkldnn", "blas"], default="auto")
a = p.parse_args()
torch.set_num_threads(a.threads)
x = torch.from_numpy(np.fromfile(a.file, dtype=np.float32).reshape(a.nq + a.nr, a.d))
q, r = x[: a.nq], x[a.nq :]
with torch.no_grad():
    t0, c0 = time.perf_counter(), time.process_time()
    qn, rn = F.normalize(q, dim=1), F.normalize(r, dim=1)
    mm = "mkldnn" if a.mm == "mkldnn" or (a.mm == "auto" and torch.backends.mkldnn.is_available()) else "blas"
    if mm == "mkldnn":
        rm = rn.to_mkldnn()
    idx = torch.empty((a.nq, a.k), dtype=torch.int64)
    for q0 in range(0, a.nq, a.block):
        qb = qn[q0 : q0 + a.block]
        s = torch._C._nn.mkldnn_linear(qb.to_mkldnn(), rm, None).to_dense() if mm == "mkldnn" else qb @ rn.T
        idx[q0 : q0 + a.block] = torch.topk(s, a.k, dim=1).indices
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
idx.to(torch.int32).numpy().tofile(a.file + ".idx")
print(json.dumps({"seconds": seconds, "cpuSeconds": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__, "mm": mm}))
