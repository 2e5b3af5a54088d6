"""Phase 5's parts: actors, their mailboxes and turns (``system``), the
causal clock they stamp updates with (``clocks``), what they send
(``updates``) and the worker that hosts them (``host``). The engine that
starts the hosts and coordinates them is ``engines/actor.py``."""
