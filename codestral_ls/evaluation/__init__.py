"""``codestral-ls eval``: measure completion variants on holes cut from the user's own code.

- :mod:`.holes` samples holes (deterministic by seed) from the repository's source files;
- :mod:`.variants` parses the named settings sets to compare;
- :mod:`.runner` sends every hole through the completion engine, appending results;
- :mod:`.metrics` and :mod:`.report` score and rank them; :mod:`.prices` prices them;
- :mod:`.store` reads and appends the JSONL results file (resume);
- :mod:`.command` is the command line.

See docs/eval.md.
"""
