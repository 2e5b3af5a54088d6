"""Phase 7's flow control: the parts, each pure and testable on its own.

* ``capacity``: ``AdaptiveCapacity``, a queue bound steered by the wait;
* ``shedding``: ``SheddingQueue``, what goes first when it is full;
* ``breaker``: ``CircuitBreaker``, closed / open / half-open per worker;
* ``health``: ``Health`` reports from workers, ``HealthBoard`` in the parent;
* ``faults``: ``FaultInjector``, failures made on purpose (``--fault-rate``);
* ``control``: ``FlowControl``, the parent's composition of the above,
  which ``engines/_pool.py`` drives under ``--flow adaptive``.

None of them owns a thread, a clock or a pipe: the engine passes the
clock's readings in and does the sending.
"""
