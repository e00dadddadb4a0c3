"""The learned codec `mscae`: a multi-stage convolutional autoencoder with a mean-scale
hyperprior and a checkerboard context, per-level quantisation gains (one model, many rates) and
a range-coded bitstream that decodes the same on any machine.

Modules, bottom-up (each imports only those above it):

* `coding` (numpy-only constants both sides agree on: the latent grid, `pad`, the checkerboard,
  symbol ranges), `ops` (straight-through rounding, anchor mask), `zoo` (name -> config),
  `bitstream` (the .msc container), `integer` (exact integer layers);
* `layers` (GDN), `tables` (the integer probability model and the coding tables stored with the
  weights), `entropy_models` (factorised prior, Gaussian likelihood, grouped range coding);
* `tiling` (the float transforms in bounded memory) and `latents` (the latents coded with the
  integer prior, for encoder and decoder);
* `models` (the transforms, the RD loss, compress/decompress);
* `coder` (load and save weights, `EncoderSession`, encode and decode files);
* `refine` (max effort: latents refined per photo), `data` and `training`;
* `codec` (the registry adapter the portal uses).

TensorFlow/Keras are imported only when a model is built or trained, so the portal starts without
them (`zoo`, `coding`, `bitstream`, `coder` and `codec` import neither at module level).
"""
