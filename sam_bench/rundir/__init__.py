"""A run directory as every reader takes it: the model rebuilt from its weights and metadata, sha256 and dtypes
checked (`model`); weights committed once and dropped from the tree found again (`blobs`); the normalization a
model was trained with, against the one declared (`trained_normalization`). A basic: the zoo, evaluation, the
grid runner and the report read runs alike."""
