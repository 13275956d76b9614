"""Where each projection stands, as readers see it: wait until a read model has applied a write.

The API and the CLI use this for read-your-writes (`?wait=true`); it reads the checkpoint table only, so
they need neither the projector nor its NATS connection to wait.
"""

import asyncio
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kitt.projections.models import Checkpoint, table

_checkpoints = table(Checkpoint)


async def wait_for_checkpoint(engine: AsyncEngine, name: str, seq: int, timeout: float = 30.0) -> bool:
    """Wait until a projection has applied `seq` (for read-your-writes after a command)."""
    deadline = time.monotonic() + timeout
    while True:
        async with engine.connect() as conn:
            row = (
                await conn.execute(select(_checkpoints.c.last_seq).where(_checkpoints.c.name == name))
            ).first()
        if row and row[0] >= seq:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
