import sys

from ppo_ref.cli import main

sys.exit(main())
