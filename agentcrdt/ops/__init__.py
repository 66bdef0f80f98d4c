"""``ops`` events: their shape and fold into entity state (:mod:`.state`), and their inverse (:mod:`.undo`).

Pure: the replica folds and inverts with these, and nothing here does I/O.
"""
