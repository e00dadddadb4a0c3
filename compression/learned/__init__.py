"""The learned codec `mscae`: a multi-stage convolutional autoencoder with a mean-scale
hyperprior, per-level quantisation gains (one model, many rates) and a range-coded bitstream.

Seams, as in CompressAI: `layers` (GDN), `entropy_models` (factorised prior, Gaussian
conditional, table building and range coding), `models` (the transforms and the RD loss),
`zoo` (name -> config), `bitstream` (the .msc container), `data` and `training`, and `codec`
(the registry adapter used by the portal). TensorFlow/Keras are imported only when a module
here is used, so the portal starts without them.
"""
