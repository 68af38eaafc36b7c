"""The project's benchmarks, run from the repository root as modules: `python -m benchmarks.ner_accuracy ...`.

`results` holds what the accuracy benchmarks share (the results files, the run-and-record loop, `spacy train`,
the summary and the plots); each other module is one benchmark with its own command line.
"""
