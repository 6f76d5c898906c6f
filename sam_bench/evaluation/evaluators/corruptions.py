"""The corruptions evaluator (RobustBench's common corruptions, CIFAR-10-C): the model's accuracy on 15 corruptions
at 5 severities of a corruption set (evaluation/corruption_runner.py), one per-image outcomes record per corruption
and severity, resumable by chunks."""

from __future__ import annotations

from sam_bench.corruptions import catalogue
from sam_bench.evaluation.evaluators.base import Evaluator, Job, Option, percent
from sam_bench.threat_models import CORRUPTIONS


class Corruptions(Evaluator):
    kind = CORRUPTIONS
    words = "the corruption pass"
    submit_words = (
        "corruptions: the official set's entry and its unaggregated_results.csv row; a generated set's are refused"
    )
    options = (
        Option(
            "corruption_set",
            catalogue.SETS,
            catalogue.GENERATED,
            "The corruptions' images: generated from the test set (or the bundled sample's), or the official "
            "CIFAR-10-C read from --data-dir/CIFAR-10-C.",
        ),
    )

    def evaluate(self, job: Job):
        """The set `--corruption-set` names (the official one read from `data_dir`), all 75 corruptions and
        severities."""
        from sam_bench.evaluation.corruption_runner import evaluate_model

        set_name = job.options.get("corruption_set", catalogue.GENERATED)
        results = evaluate_model(
            job.model,
            job.out,
            set_name,
            n_examples=job.n_examples,
            data_dir=job.data_dir,
            corruptions_dir=job.data_dir if set_name == catalogue.OFFICIAL else None,
            zoo_dir=job.zoo_dir,
            device=job.device,
            progress=job.progress,
            stop_at=job.stop_at,
            recorded_ref=job.recorded_ref,
        )
        return job.out, results

    def said(self, results) -> str:
        entry = results.evaluation(CORRUPTIONS, CORRUPTIONS)
        assert entry is not None and entry.chunks is not None, "a results file of corruptions holds their entry"
        return (
            f"mean corruption accuracy {percent(entry.robust_acc)} over the 75 on {entry.settings['corruption_set']} "
            f"({entry.n_examples} images, {entry.chunks['resumed']} of {entry.chunks['count']} chunks resumed), "
            f"clean {percent(results.clean_acc)}"
        )

    def remeasure(self, model, evaluation, data, n: int, device, data_dir) -> tuple[dict, dict]:
        from sam_bench.evaluation.corruption_runner import remeasured_outcomes

        return remeasured_outcomes(model, evaluation, data, n, device, data_dir)


EVALUATOR = Corruptions()
