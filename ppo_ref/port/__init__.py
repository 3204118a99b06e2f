"""The porting kit, importing neither gymnasium nor MuJoCo:

- cases.py   the golden cases: how each one's inputs are drawn and computed
- arrays.py  the pieces cases are built from: Case, named parameter groups, shared draws
- golden.py  writing the golden vectors and their index.json
- format.py  their on-disk format, read back with every file treated as untrusted
- check.py   ``ppo-ref check-port``: a port's outputs against the vectors
- measure.py the core computing the cases in float32: the measurement behind ``check-port --float32``
- export.py  ``ppo-ref export-torch``: a checkpoint as CleanRL's Agent state dict
"""
