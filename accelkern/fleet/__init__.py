"""Fleet mode: every device of a node or cluster measured at once on torch.distributed, slow parts named.

One process per device (a rank), launched by torchrun (`torchrun --nproc-per-node=G -m accelkern fleet`,
or `accelkern fleet --local G`, which starts torchrun itself). NCCL on GPUs, gloo on CPU ranks.

  options.py      the validated options (no torch), and the argv a launcher forwards to its ranks
  ranks.py        who this rank is (torchrun's environment), the store, the process group, barriers and
                  result gathering over the store that name the ranks that never arrived
  state.py        the per-rank state file (phase, pid) a launcher reads when a rank dies
  loop.py         the one barrier-synchronised timed loop of collectives and p2p, and the agreed count
  collectives.py  all_reduce, all_gather, reduce_scatter, all_to_all, broadcast: nccl-tests bandwidths
  p2p.py          the rank x rank send/recv matrix
  suites.py       the per-device suites (GEMM, MAMF, HBM, peak) through the family modules, run on every
                  rank at the same time, and the self-test slowdown
  outliers.py     fleet median, ratio to it, flags (tolerance and per-SKU floors); pure Python
  gather.py       merging rank rows, the fleet header, the verdict
  render.py       the tables rank 0 prints (one per suite, ranks grouped by node; the p2p matrix)
  rank_main.py    what one rank does from start to exit
  launch.py       `--local G`: torchrun started and watched, its exit relayed, a dead rank named
"""
