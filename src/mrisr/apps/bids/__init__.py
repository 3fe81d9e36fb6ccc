"""``mrisr bids``: a BIDS dataset in, a BIDS derivatives dataset out, one model per protocol.

- :mod:`mrisr.apps.bids.layout`: the scans in, the derivatives' names out (light: the CLI reads its defaults);
- :mod:`mrisr.apps.bids.protocols`: scans grouped by protocol;
- :mod:`mrisr.apps.bids.participant`: one model per protocol and the SRs;
- :mod:`mrisr.apps.bids.group`: the cohort's table and overview.
"""
