"""Run management: what a training run leaves on disk and how it resumes.

- rundir.py      a new run or a resumed one in its run directory; restoring envs
- checkpoint.py  the checkpoint format: save, load (untrusted files refused), the
                 TrainState as named arrays and back
- runlog.py      config.json, metrics.csv, episodes.csv
- signals.py     stopping cleanly on SIGINT/SIGTERM
- report.py      tables and learning curves from run directories
- sweep.py       seeds x envs x variants of runs on Ray (ppo-ref sweep)
"""
