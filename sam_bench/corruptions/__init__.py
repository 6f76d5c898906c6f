"""Common corruptions (CIFAR-10-C): RobustBench's third threat model.

`catalogue`: the 15 corruptions, their families and severities, the names of the corruption sets; `official`:
the published files in RobustBench's layout, checked before use; `generate`: the same corruptions made from
the CIFAR-10 test images with Hendrycks and Dietterich's CIFAR parameters, where the files are absent;
`corruption_set`: either source behind one record that hands out a corruption's images at a severity.
"""
