"""Run management: what a training run leaves on disk and how it resumes.

- layout.py      what a run directory holds, reading it, and finding runs under a path
                 (the one way every command finds them)
- rundir.py      a new run or a resumed one in its run directory; restoring envs
- checkpoint.py  the checkpoint format: save, load (untrusted files refused), the
                 TrainState as named arrays and back
- runlog.py      writing config.json, metrics.csv, episodes.csv
- tensorboard.py event files under CleanRL's tag names: writing and reading
- convert.py     ppo-ref tensorboard: a run's CSVs as an event file
- signals.py     stopping cleanly on SIGINT/SIGTERM
- report.py      tables and learning curves from run directories
- curves.py      trailing-mean curves, a group's mean curve and its bootstrap band
- stats.py       bootstrap intervals, Welch's test, P(A > B), the detectable difference
- compare.py     ppo-ref compare: two groups of runs, per env and across envs
- compare_out.py its tables (Markdown, CSV) and figures
- sweep.py       seeds x envs x variants of runs on Ray (ppo-ref sweep)
"""
