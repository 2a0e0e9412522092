"""The service layer from several processes at once, as gunicorn's workers run it.

One Python process runs one thread at a time (the GIL), so 8 client threads
in one process measure the ledger's Python cost on one core. Here the same
clients are split over processes (2 x 4 threads: the layout of `coalition
serve --workers 2 --threads 4`), each with its own engine and pool, started
together on a barrier; the parent adds up their operations.
"""

from __future__ import annotations

import multiprocessing
import time

from bench import load, raw, service
from bench.world import BenchMember, BenchPartner, World


def _child(url: str, slugs: list[str], partners: list[tuple], members: list[tuple], hot: tuple, path: str, op: str,
           is_hot: bool, tag: str, share: int, threads: int, max_seconds: float, barrier, results) -> None:
    from network.db import Database, make_engine
    from network.parties.registry import get_partner

    engine = make_engine(url)
    try:
        db = Database(engine)
        with db.session() as session:
            loaded = [get_partner(session, slug) for slug in slugs]
        scene = World([BenchPartner(p, *rest) for p, rest in zip(loaded, partners)],
                      [BenchMember(*m) for m in members], BenchMember(*hot))
        if path == "raw":
            ops = (raw.earn_ops if op == "earn" else raw.redeem_ops)(engine, scene, threads, hot=is_hot, tag=tag)
        else:
            ops = (service.earn_ops if op == "earn" else service.redeem_ops)(db, scene, threads, hot=is_hot, tag=tag)
        barrier.wait()
        m = load.run(tag, share, ops, max_seconds=max_seconds, progress=False)
        results.put((m.latencies, m.errors, m.error_samples, m.seconds, m.process_cpu))
    except Exception as exc:  # report, so the parent never waits forever
        results.put(([], share, [f"{type(exc).__name__}: {exc}"], 0.0, 0.0))
        barrier.abort()
    finally:
        engine.dispose()


def run(label: str, url: str, scene: World, *, path: str, op: str, hot: bool, tag: str, total: int, processes: int,
        threads: int, max_seconds: float, progress: bool = True) -> load.Measure:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    slugs = [p.partner.slug for p in scene.partners]
    partners = [(p.id, p.issuance, p.redemption, p.key) for p in scene.partners]
    members = [(m.member_id, m.card, m.available, m.fund_lot) for m in scene.members]
    hot_ref = (scene.hot.member_id, scene.hot.card, scene.hot.available, scene.hot.fund_lot)
    shares = [total // processes + (1 if k < total % processes else 0) for k in range(processes)]
    children = [
        ctx.Process(target=_child, args=(url, slugs, partners, members, hot_ref, path, op, hot, f"{tag}-p{k}", share,
                                         threads, max_seconds, barrier, results), daemon=True)
        for k, share in enumerate(shares)
    ]
    if progress:
        load.say_label(label)
    for child in children:
        child.start()
    try:
        barrier.wait(timeout=120)
        busy0, started = load.machine_busy(), time.perf_counter()
        outcomes = [results.get(timeout=max_seconds + 120) for _ in children]
        busy1, wall = load.machine_busy(), time.perf_counter() - started
    except Exception:
        outcomes = []
        while not results.empty():
            outcomes.append(results.get())
        raise RuntimeError(f"{label}: the client processes failed: {[o[2] for o in outcomes]}") from None
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.terminate()
    latencies = [x for o in outcomes for x in o[0]]
    seconds = max((o[3] for o in outcomes), default=wall) or wall
    samples = [s for o in outcomes for s in o[2]][:5]
    machine = busy1 - busy0 if busy0 is not None and busy1 is not None else None
    return load.Measure(len(latencies), sum(o[1] for o in outcomes), seconds, latencies, samples,
                        processes * threads, total, machine, sum(o[4] for o in outcomes))
