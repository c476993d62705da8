// The CUDA target embeds a fatbin per kernel module: a cubin that the
// toolkit's ptxas assembled for --gpu-arch (the fatbin's entry header and
// the cubin's own ELF header both name it, read by an independent parser)
// plus the PTX for the same architecture; the PTX ISA version goes with
// the architecture. Without a toolkit the kernels stay PTX, with a warning.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t/empty
// RUN: ssmc-run %s --target cuda --emit=object --gpu-arch sm_80 -o %t/sm80.o 2>&1 | count 0
// RUN: %python %S/Inputs/fatbin_entries.py %t/sm80.o | FileCheck %s --check-prefix=SM80
// RUN: ssmc-run %s --target cuda --emit=object --gpu-arch sm_89 -o %t/sm89.o
// RUN: %python %S/Inputs/fatbin_entries.py %t/sm89.o | FileCheck %s --check-prefix=SM89
// RUN: ssmc-run %s --target cuda --emit=object --gpu-arch sm_90 -o %t/sm90.o
// RUN: %python %S/Inputs/fatbin_entries.py %t/sm90.o | FileCheck %s --check-prefix=SM90
// RUN: ssmc-run %s --target cuda --emit=object --gpu-arch sm_100 -o %t/sm100.o
// RUN: %python %S/Inputs/fatbin_entries.py %t/sm100.o | FileCheck %s --check-prefix=SM100
// The default is sm_90, and the pipeline's own default the same.
// RUN: ssmc-run %s --target cuda --emit=object -o %t/default.o
// RUN: %python %S/Inputs/fatbin_entries.py %t/default.o | FileCheck %s --check-prefix=SM90
// RUN: ssmc-opt %s --ssm-nvptx-pipeline | FileCheck %s --check-prefix=OPT
//
// Each architecture's PTX names it, with its PTX ISA version.
// RUN: ssmc-run %s --target cuda --emit=ptx --gpu-arch sm_80 | FileCheck %s --check-prefix=PTX80
// RUN: ssmc-run %s --target cuda --emit=ptx --gpu-arch sm_89 | FileCheck %s --check-prefix=PTX89
// RUN: ssmc-run %s --target cuda --emit=ptx --gpu-arch sm_100 | FileCheck %s --check-prefix=PTX100
//
// No toolkit (an explicit directory is the only one tried): PTX only, said
// once for both kernel modules, and the object holds no fatbin.
// RUN: ssmc-run %s --target cuda --emit=object --cuda-toolkit %t/empty -o %t/ptx.o 2>&1 | FileCheck %s --check-prefix=WARN
// RUN: not %python %S/Inputs/fatbin_entries.py %t/ptx.o | FileCheck %s --check-prefix=NOFATBIN
// RUN: ssmc-opt %s --ssm-nvptx-pipeline="cuda-toolkit=%t/empty" 2>%t/warn.txt | FileCheck %s --check-prefix=PTXONLY
// RUN: FileCheck %s --check-prefix=WARN < %t/warn.txt
// gpu-binary=ptx asks for the PTX alone, and says nothing.
// RUN: ssmc-opt %s --ssm-nvptx-pipeline="gpu-binary=ptx" 2>&1 | FileCheck %s --check-prefix=PTXONLY --implicit-check-not=warning
//
// Bad architectures and formats are errors naming the valid values.
// RUN: not ssmc-run %s --target cuda --emit=object --gpu-arch sm_75 -o %t/x.o 2>&1 | FileCheck %s --check-prefix=ARCH
// RUN: not ssmc-opt %s --ssm-nvptx-pipeline="chip=sm_75" 2>&1 | FileCheck %s --check-prefix=ARCH
// RUN: not ssmc-run %s --target cuda --gpu-binary cubin 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not ssmc-opt %s --ssm-nvptx-pipeline="gpu-binary=cubin" 2>&1 | FileCheck %s --check-prefix=FORMAT-OPT

// Two kernel modules (the f16 conv and the f32 one), two fatbins.
// SM80: fatbin
// SM80-NEXT: elf sm_80 (e_flags sm_80)
// SM80-NEXT: ptx sm_80
// SM80-NEXT: fatbin
// SM80-NEXT: elf sm_80 (e_flags sm_80)
// SM80-NEXT: ptx sm_80
// SM80-NOT: {{.}}
// SM89: elf sm_89 (e_flags sm_89)
// SM89-NEXT: ptx sm_89
// SM90: elf sm_90 (e_flags sm_90)
// SM90-NEXT: ptx sm_90
// SM100: elf sm_100 (e_flags sm_100)
// SM100-NEXT: ptx sm_100

// OPT: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {ISAToBinaryTimeInMs
// OPT-NOT: assembly =

// PTX80: .version 7.0
// PTX80-NEXT: .target sm_80
// PTX89: .version 7.8
// PTX89-NEXT: .target sm_89
// PTX100: .version 8.6
// PTX100-NEXT: .target sm_100

// WARN: warning: no CUDA toolkit with bin/ptxas and bin/fatbinary found ('{{.*}}empty'); GPU kernels are embedded as PTX only
// WARN-NOT: warning
// NOFATBIN: no fatbin
// PTXONLY: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, {{.*}}assembly = "{{.*}}.target sm_90

// ARCH: unknown GPU architecture 'sm_75'; the CUDA target compiles for sm_80, sm_89, sm_90, sm_100
// FORMAT: --gpu-binary must be fatbin or ptx, got 'cubin'
// FORMAT-OPT: gpu-binary must be fatbin or ptx, got 'cubin'
// FORMAT-OPT: error: ssm-nvptx-pipeline: invalid options

func.func @convs(%x: tensor<2x7x13xf32>, %w: tensor<7x4xf32>,
                 %xh: tensor<2x7x13xf16>, %wh: tensor<7x4xf16>)
    -> (tensor<2x7x13xf32>, tensor<2x7x13xf16>) {
  %y = ssm.causal_conv1d %x, %w silu
      : (tensor<2x7x13xf32>, tensor<7x4xf32>) -> tensor<2x7x13xf32>
  %yh = ssm.causal_conv1d %xh, %wh
      : (tensor<2x7x13xf16>, tensor<7x4xf16>) -> tensor<2x7x13xf16>
  return %y, %yh : tensor<2x7x13xf32>, tensor<2x7x13xf16>
}
