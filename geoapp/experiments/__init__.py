"""The paper's experiments (Section IV): plans of runs, a results store, a resumable runner, a report.

``python -m geoapp experiments run --plan paper`` trains every run of a plan that has no result yet and
appends each result to the dataset's results store; ``experiments report`` writes the tables and
figures to ``docs/experiments.md``; the Experiments page shows them.
"""

from geoapp.experiments.plan import PLANS, Plan, RunSpec, check_plan, get_plan, load_plan_file
from geoapp.experiments.runner import RunSummary, run_plan, train_and_score
from geoapp.experiments.store import ResultStore, latest_results, store_path

__all__ = [
    "PLANS",
    "Plan",
    "RunSpec",
    "check_plan",
    "get_plan",
    "load_plan_file",
    "RunSummary",
    "run_plan",
    "train_and_score",
    "ResultStore",
    "latest_results",
    "store_path",
]
