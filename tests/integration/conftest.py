"""Fixtures for services and selectors against the real database."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

BARRIER_TIMEOUT = 30  # seconds; a thread that never arrives fails the test


@pytest.fixture
def run_concurrently() -> Callable[..., list]:
    """Run `work(index)` in `count` threads released together by a barrier and
    return each call's result, or the exception it raised, in index order.

    Each thread has its own database connection (closed when the thread ends), so
    the calls really race in the database: use with transaction=True, where the
    rows the test made are committed and visible to the threads."""

    def run(work: Callable[[int], object], *, count: int) -> list:
        barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT)

        def one(index: int) -> object:
            try:
                barrier.wait()
                return work(index)
            except Exception as exc:  # returned, so the test can assert on it
                return exc
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))

    return run
