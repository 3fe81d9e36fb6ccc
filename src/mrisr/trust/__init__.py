"""What a user needs to trust an SR without a ground truth: the consistency map (the SR acquired again, minus
the scan: :mod:`~mrisr.trust.consistency`) and the uncertainty map, learned from pairs made from the scan
itself (:mod:`~mrisr.trust.pairs`, :mod:`~mrisr.trust.features`, :mod:`~mrisr.trust.errornet`,
:mod:`~mrisr.trust.uncertainty`); :mod:`~mrisr.trust.spread` is the test-time spread it replaced."""
