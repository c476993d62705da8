func.func @mm(%a: tensor<7x5xf32>, %b: tensor<5x37xf32>, %c: tensor<?x?xf32>, %d: tensor<?x?xf32>, %v: tensor<5x1xf32>) -> (tensor<7x37xf32>, tensor<?x?xf32>, tensor<7x1xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<7x37xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<7x37xf32>) -> tensor<7x37xf32>
  %r = linalg.matmul ins(%a, %b : tensor<7x5xf32>, tensor<5x37xf32>) outs(%acc : tensor<7x37xf32>) -> tensor<7x37xf32>
  %r2 = linalg.matmul ins(%c, %d : tensor<?x?xf32>, tensor<?x?xf32>) outs(%c : tensor<?x?xf32>) -> tensor<?x?xf32>
  %e3 = tensor.empty() : tensor<7x1xf32>
  %acc3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<7x1xf32>) -> tensor<7x1xf32>
  %r3 = linalg.matmul ins(%a, %v : tensor<7x5xf32>, tensor<5x1xf32>) outs(%acc3 : tensor<7x1xf32>) -> tensor<7x1xf32>
  return %r, %r2, %r3 : tensor<7x37xf32>, tensor<?x?xf32>, tensor<7x1xf32>
}
func.func @attn(%q: tensor<1x2x20x8xf32>, %k: tensor<1x1x20x8xf32>) -> tensor<1x2x20x8xf32> {
  %o = ssm.attention %q, %k, %k causal {window = 7 : i64}
      : (tensor<1x2x20x8xf32>, tensor<1x1x20x8xf32>, tensor<1x1x20x8xf32>) -> tensor<1x2x20x8xf32>
  return %o : tensor<1x2x20x8xf32>
}
