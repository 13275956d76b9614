"""Acknowledgements that JetStream confirms, sent again while it does not.

A plain ack is a publish: sent while the client reconnects, or while the consumer's replicas elect a new
leader, it is lost without a word, and the message stays pending for its whole `ack_wait`. For an agent,
whose consumer lets it hold only as many tests as it has slots, that is a minute in which it takes no
test. Here the ack asks for the server's answer and is repeated, with a doubling pause, until one comes.
"""

import asyncio
import time

import nats.errors
import structlog
from nats.aio.msg import Msg

log = structlog.get_logger(__name__)

ANSWER_S = 2.0  # one ack's wait for the server's answer


async def confirmed_ack(msg: Msg, *, within_s: float = 30.0) -> bool:
    """Ack `msg` until JetStream confirms it, for up to `within_s`; False if it never did (the message is
    then redelivered after its ack_wait, as a lost plain ack would have been)."""
    deadline = time.monotonic() + within_s
    pause = 0.25
    while True:
        try:
            await msg.ack_sync(timeout=ANSWER_S)
            return True
        except nats.errors.MsgAlreadyAckdError:
            return True
        except nats.errors.ConnectionClosedError:
            return False  # shutting down: the message is redelivered to whoever takes it next
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            if time.monotonic() + pause >= deadline:
                log.warning("ack.unconfirmed", subject=msg.subject, error=str(exc) or type(exc).__name__)
                return False
            log.info("ack.retrying", subject=msg.subject, error=str(exc) or type(exc).__name__)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 4.0)
