"""What ``--engine ray`` needs besides the engine: the cluster it starts
or joins (``cluster.py``) and the actor class that hosts a worker's books
(``book_actor.py``). Nothing here imports Ray at module import: the
registry must load on a machine without the ``ray`` extra."""
