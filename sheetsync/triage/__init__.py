"""Steps 6 of the method, with a way to check them: root-cause proposals the expert decides on
(``propose``, the proposals ``tab``), and root causes for the judge's failures, measured against the
expert's own (``classify``). Submodules are imported where they are used: ``pull`` reads the tab and must
not pay for the LLM layer."""
