"""The norm-ball evaluator (Linf, L2): the clean pass, PGD and AutoAttack as their attack records say
(evaluation/attack_table.py), each budget's examples checked and classified again (evaluation/evaluate.py),
resumable by chunks, on one process or shared out by torchrun."""

from __future__ import annotations

import warnings

from sam_bench.evaluation.evaluators.base import Evaluator, Job
from sam_bench.threat_models import NORM_BALL


class NormBall(Evaluator):
    kind = NORM_BALL

    def evaluate(self, job: Job):
        from sam_bench import data, files
        from sam_bench.evaluation import chunk_state, evaluate, model_ref, results_file
        from sam_bench.runtime import distributed, lanes

        model, info = job.loaded or model_ref.load_model_ref(job.model, zoo_dir=job.zoo_dir)
        test = job.data if job.data is not None else data.load_dataset(info.dataset_name, job.data_dir)
        state = job.state or chunk_state.state_path(job.out)
        with lanes.passing_turns(model):  # in a lane of models side by side, its turns (runtime/lanes.py)
            results = evaluate.evaluate(
                model,
                test,
                job.attacks,
                n_examples=job.n_examples,
                device=job.device,
                precision=job.precision,
                search_math=job.search_math,
                batch_size=job.batch_size,
                chunk_size=job.chunk_size,
                state_path=state,
                model_info=info,
                progress=job.progress,
                stop_at=job.stop_at,
                earlier=job.earlier,
            )
        if job.recorded_ref is not None and info.record["kind"] == "run":
            results["model"] = {**results["model"], "ref": job.recorded_ref}
        results.update(job.extra)
        group = distributed.current()
        if group is not None and not group.is_main:
            return None  # rank 0 writes
        path = job.out
        with files.locked(path):  # another evaluation may have written this name meanwhile
            reason = None if job.replace else results_file.conflict(path, results)
            if reason:
                path = results_file.available_name(path, results)
                warnings.warn(f"{job.out} {reason} (written meanwhile); the results go to {path}", stacklevel=2)
            files.write_json(path, results)
        state.unlink(missing_ok=True)
        return path, results


EVALUATOR = NormBall()
