"""The loop's operations figures (the KPIs the operations dashboard and ``/metrics`` show):
``kpis`` computes them from plain records, ``service`` reads those records from the database."""
