/* kernel_names.h: the list of model_kernels.h's kernels (and gemm.h's), and
 * the renaming that gives each compiled instance of model_kernels.c (and
 * gemm.c) its own names.
 *
 * model_kernels.c is compiled three times: as itself (the portable C
 * instance, at the build's baseline flags), by model_kernels_avx2.c
 * (x86-64-v3: AVX2 + FMA) and by model_kernels_avx512.c (x86-64-v4:
 * AVX-512). Each defines KERNEL_ISA first; this header then maps every
 * public kernel name to name_<isa>, so the three instances link side by
 * side, and kernel_dispatch.c binds the public names to the instance the
 * CPU runs best (kernel_dispatch.h). A kernel added to model_kernels.h is
 * added to both lists below. Internal to those files and the tests. */
#ifndef COMMON_KERNEL_NAMES_H
#define COMMON_KERNEL_NAMES_H

/* X(name) for every public kernel of model_kernels.h. */
#define MODEL_KERNEL_LIST(X) \
    X(encoder_forward) \
    X(encoder_backward) \
    X(rmsnorm_forward) \
    X(rmsnorm_forward_copy) \
    X(rmsnorm_backward) \
    X(matmul_forward) \
    X(matmul_backward) \
    X(matmul_backward_input) \
    X(matmul_backward_weights) \
    X(matmul_forward_naive) \
    X(matmul_packed_floats) \
    X(matmul_pack) \
    X(matmul_forward_packed) \
    X(matmul_pack_swiglu) \
    X(matmul_forward_packed_swiglu) \
    X(rope_tables) \
    X(rope_row) \
    X(rope_forward) \
    X(rope_backward) \
    X(softmax_row) \
    X(softmax_backward_row) \
    X(attention_decode_row) \
    X(swiglu_forward) \
    X(swiglu_backward) \
    X(log_sum_exp_row) \
    X(softmax_cdf_pick) \
    X(logp_forward) \
    X(logp_forward_truncated) \
    X(logp_backward) \
    X(gemm_f32) \
    X(gemm_f32_shared_b) \
    X(gemm_fastest)

#ifdef KERNEL_ISA
#define KERNEL_PASTE2(name, isa) name##_##isa
#define KERNEL_PASTE(name, isa) KERNEL_PASTE2(name, isa)
#define KERNEL_NAME(name) KERNEL_PASTE(name, KERNEL_ISA)
#define encoder_forward KERNEL_NAME(encoder_forward)
#define encoder_backward KERNEL_NAME(encoder_backward)
#define rmsnorm_forward KERNEL_NAME(rmsnorm_forward)
#define rmsnorm_forward_copy KERNEL_NAME(rmsnorm_forward_copy)
#define rmsnorm_backward KERNEL_NAME(rmsnorm_backward)
#define matmul_forward KERNEL_NAME(matmul_forward)
#define matmul_backward KERNEL_NAME(matmul_backward)
#define matmul_backward_input KERNEL_NAME(matmul_backward_input)
#define matmul_backward_weights KERNEL_NAME(matmul_backward_weights)
#define matmul_forward_naive KERNEL_NAME(matmul_forward_naive)
#define matmul_packed_floats KERNEL_NAME(matmul_packed_floats)
#define matmul_pack KERNEL_NAME(matmul_pack)
#define matmul_forward_packed KERNEL_NAME(matmul_forward_packed)
#define matmul_pack_swiglu KERNEL_NAME(matmul_pack_swiglu)
#define matmul_forward_packed_swiglu KERNEL_NAME(matmul_forward_packed_swiglu)
#define rope_tables KERNEL_NAME(rope_tables)
#define rope_row KERNEL_NAME(rope_row)
#define rope_forward KERNEL_NAME(rope_forward)
#define rope_backward KERNEL_NAME(rope_backward)
#define softmax_row KERNEL_NAME(softmax_row)
#define softmax_backward_row KERNEL_NAME(softmax_backward_row)
#define attention_decode_row KERNEL_NAME(attention_decode_row)
#define swiglu_forward KERNEL_NAME(swiglu_forward)
#define swiglu_backward KERNEL_NAME(swiglu_backward)
#define log_sum_exp_row KERNEL_NAME(log_sum_exp_row)
#define softmax_cdf_pick KERNEL_NAME(softmax_cdf_pick)
#define logp_forward KERNEL_NAME(logp_forward)
#define logp_forward_truncated KERNEL_NAME(logp_forward_truncated)
#define logp_backward KERNEL_NAME(logp_backward)
#define gemm_f32 KERNEL_NAME(gemm_f32)
#define gemm_f32_shared_b KERNEL_NAME(gemm_f32_shared_b)
#define gemm_fastest KERNEL_NAME(gemm_fastest)
#endif

#endif
