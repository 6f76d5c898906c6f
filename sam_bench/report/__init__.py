"""The report: a reproduction folder read and judged once (`folder`, `records`), two models compared on one
measure (`comparison`) and the paper's claims judged from such comparisons (`claims`, `collapse`,
`confirmatory`), the report's sections (`autoattack_tail`, `against_published`, `mechanism`,
`mechanism_seeds`, `pareto`, `spent`, `gpu_minutes`), REPORT.md and its plots (`document`, `plots`), the
README summary (`summary`) and the pilot that sizes a grid from earlier reproductions (`pilot`). It reads
what the grid runner (sam_bench.experiments) wrote and runs no model."""
