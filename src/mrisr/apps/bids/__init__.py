"""``mrisr bids``: a BIDS dataset in, a BIDS derivatives dataset out, one model per protocol."""

from mrisr.apps.bids.group import run_group
from mrisr.apps.bids.participant import BidsOptions, run_participant

__all__ = ["BidsOptions", "run_group", "run_participant"]
