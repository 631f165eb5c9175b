"""Evaluation of perception models: pure metrics in ``algo``, the runtime adapter in ``run``."""
