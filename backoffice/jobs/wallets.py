"""Periodic job of wallet operations (SPEC §12): pause the silent wallets whose
operator chose the automatic pause."""
from ..db import with_db
from ..queues import current_config
from ..services import wallets

SILENT_SWEEP_INTERVAL = 60  # seconds


@with_db
def pause_silent_wallets():
    """How many silent wallets were paused."""
    return wallets.pause_silent(wallets.silent_window(current_config()))


def register_cron(scheduler, config):
    return scheduler.register(pause_silent_wallets, "default",
                              interval=config.get("WALLET_SILENT_SWEEP_INTERVAL", SILENT_SWEEP_INTERVAL),
                              job_timeout=120, result_ttl=60, name="backoffice.wallets.pause_silent")
