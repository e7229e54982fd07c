"Shared pytest settings: small thread pools so notebook tests and workers share the 2 CI cores fairly."
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
