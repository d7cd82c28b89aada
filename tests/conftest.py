import os
import sys

# the naive twins live beside the tests
sys.path.insert(0, os.path.dirname(__file__))
