import sys
from pathlib import Path

from crossplane.function import logging

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.configure(logging.Level.DISABLED)
