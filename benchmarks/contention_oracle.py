import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from finlab import rate_control
from finlab.rate_curve import Curve
a, b, R = (float(x) for x in sys.argv[1:4])
pts = []
for k in range(0, 70):
    t0 = 5 * k
    pts += [(t0 - a, R), (t0 - a, 0.0), (t0 + b, 0.0), (t0 + b, R)]
orig_init = rate_control.Controller.__init__
def init(self, limit, settings):
    orig_init(self, limit, settings)
    self.base = self.curve = Curve(pts)
rate_control.Controller.__init__ = init
rate_control.Controller.answer = lambda self, now, limited, sent=None: None
import contention_sim as sim
s, r, mins = sim.run("bursty", 300, burst=1)
print(f"quiet [-{a}, +{b}) rate {R}: share {s:.3f} 429 {r:6.2%} per-minute {mins}")
