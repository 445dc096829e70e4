"""Virtual-time sim of benchmarks/contention.py: 2 variants of competitor, random 429s; chunked fetch like the real one."""
import asyncio, random, sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "tests"))
from test_budget import FakeClock, run_virtual, competitor_due
from finlab.budget import Budget
from finlab.demo.limits import Limits

PATH = "/v1/tax/transactions/tax_1AbC"
COMP = "/v1/charges"

def run(variant, seconds=300.0, chunk=100, workers=32, burst=5, seed=12, **over):
    clock = FakeClock(0.0)
    budget = Budget.for_key_mode("test", burst=burst, clock=clock, sleep=clock.sleep, async_sleep=asyncio.sleep, **over)
    limits = Limits.stripe("test", clock=clock)
    rng = random.Random(seed)
    c = {"ok": 0, "429": 0, "other": 0}
    per_min = {}
    p = {"random5": 0.05, "random10": 0.10}.get(variant, 0.0)

    async def competitor():
        while True:
            due = competitor_due(clock(), variant == "bursty")
            while c["other"] < due and limits.admit(COMP) is None:
                c["other"] += 1
            await asyncio.sleep(0.005)

    async def one():
        while True:
            await budget.acquire_async(PATH)
            sent = clock()
            refused = limits.admit(PATH) or (rng.random() < p)
            await asyncio.sleep(0.3 + rng.uniform(-0.05, 0.05))
            key = "429" if refused else "ok"
            c[key] += 1
            m = int(clock() // 60)
            per_min.setdefault(m, {"ok": 0, "429": 0})[key] += 1
            if refused:
                budget.rate_limited(PATH, sent)
                await asyncio.sleep(rng.uniform(0.25, 0.5))
            else:
                budget.admitted(PATH, sent)
                return

    async def fetcher():
        sem = asyncio.Semaphore(workers)
        async def gated():
            async with sem:
                await one()
        while True:
            await asyncio.gather(*(gated() for _ in range(chunk)))

    async def main():
        tasks = [asyncio.ensure_future(fetcher())]
        if variant in ("steady", "bursty"):
            tasks.append(asyncio.ensure_future(competitor()))
        await asyncio.sleep(seconds)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    run_virtual(clock, main())
    refused = c["429"] / max(1, c["ok"] + c["429"])
    if variant in ("steady", "bursty"):
        share = c["ok"] / (25 * seconds - c["other"])
    else:
        share = c["ok"] / (25 * seconds)
    mins = " ".join(f"{per_min[m]['ok']}/{per_min[m]['429']}" for m in sorted(per_min) if m < seconds // 60)
    return share, refused, mins

if __name__ == "__main__":
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 300
    over = {k: float(v) for k, v in (a.split("=") for a in sys.argv[2:])}
    for v in ("steady", "bursty", "random5", "random10"):
        s, r, mins = run(v, secs, **over)
        print(f"{v:9s} share {s:.3f}  429 {r:6.2%}  per-minute {mins}", flush=True)
