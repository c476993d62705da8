//===- CoreModule.cpp - the ssmc._ssmc extension module --------------------===//
//
// Python bindings of ssmc::Jit: compile a program, call its entries on
// NumPy arrays, DLPack tensors (PyTorch) and Python scalars, get NumPy
// arrays (or PyTorch tensors) back that own the compiled code's buffers.
//
// A call converts its arguments to ssmc::Tensor views of the callers'
// memory (no copy for any strides: the JIT stages strided inputs itself),
// releases the GIL, runs the entry, and wraps the results it allocated.
// Errors keep the C++ API's messages: ssmc.ArgumentError (a ValueError)
// for arguments, shapes and dtypes, ssmc.RunError (a RuntimeError) for
// failures while the code runs, ssmc.CompileError (a ValueError) for a
// program that does not compile.
//
//===----------------------------------------------------------------------===//

#include "CoreDLPack.h"

#include "ssmc/Jit.h"
#include "ssmc/Tensor.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace py = pybind11;
using ssmc::DType;
using ssmc::Tensor;

namespace {

//===----------------------------------------------------------------------===//
// Exceptions
//===----------------------------------------------------------------------===//

PyObject *gError = nullptr;         // ssmc.Error
PyObject *gArgumentError = nullptr; // ssmc.ArgumentError(Error, ValueError)
PyObject *gCompileError = nullptr;  // ssmc.CompileError(Error, ValueError)
PyObject *gRunError = nullptr;      // ssmc.RunError(Error, RuntimeError)

/// A Python exception of type `type` with `message`, thrown through
/// pybind11 (which restores it as the pending Python error).
[[noreturn]] void raise(PyObject *type, const std::string &message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

/// Whether a call error happened while the code ran (rather than in
/// checking what it was given).
bool isRunFailure(const std::string &message) {
  return message.rfind("CUDA error", 0) == 0 ||
         message.find("CUDA driver") != std::string::npos ||
         message.find("libcuda") != std::string::npos;
}

[[noreturn]] void raiseCallError(llvm::Error error) {
  std::string message = llvm::toString(std::move(error));
  raise(isRunFailure(message) ? gRunError : gArgumentError, message);
}

//===----------------------------------------------------------------------===//
// dtypes
//===----------------------------------------------------------------------===//

/// The NumPy dtype of `t`; none for bf16.
std::optional<py::dtype> numpyDType(DType t) {
  switch (t) {
  case DType::F16: return py::dtype("float16");
  case DType::BF16: return std::nullopt;
  case DType::F32: return py::dtype::of<float>();
  case DType::F64: return py::dtype::of<double>();
  case DType::I1: return py::dtype("bool");
  case DType::I8: return py::dtype::of<int8_t>();
  case DType::I16: return py::dtype::of<int16_t>();
  case DType::I32: return py::dtype::of<int32_t>();
  case DType::I64: return py::dtype::of<int64_t>();
  }
  return std::nullopt;
}

std::optional<DType> fromNumpy(const py::dtype &dt) {
  char kind = dt.kind();
  size_t size = dt.itemsize();
  if (kind == 'f')
    return size == 2 ? std::optional(DType::F16)
           : size == 4 ? std::optional(DType::F32)
           : size == 8 ? std::optional(DType::F64)
                       : std::nullopt;
  if (kind == 'b' && size == 1)
    return DType::I1;
  if (kind == 'i')
    return size == 1 ? std::optional(DType::I8)
           : size == 2 ? std::optional(DType::I16)
           : size == 4 ? std::optional(DType::I32)
           : size == 8 ? std::optional(DType::I64)
                       : std::nullopt;
  return std::nullopt;
}

std::string pyRepr(const py::handle &h) {
  return py::str(py::repr(h)).cast<std::string>();
}

//===----------------------------------------------------------------------===//
// Programs and entries
//===----------------------------------------------------------------------===//

/// A compiled program, shared by its entries (and by the result arrays of
/// nothing: results own their buffers).
struct ProgramHandle {
  std::unique_ptr<ssmc::Jit> jit;
  std::string target;
  bool fromDiskCache = false;
  /// Reject float inputs holding NaN or infinity before running.
  bool checkFinite = false;
};

/// The index of the first NaN or infinity in host tensor `t` (any
/// strides), if it has float elements and one.
std::optional<std::vector<int64_t>> firstNonFinite(const Tensor &t) {
  if (t.device != ssmc::Device::CPU || !t.data)
    return std::nullopt;
  auto read = [&](const char *p) -> double {
    switch (t.dtype) {
    case DType::F16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return ssmc::halfToFloat(h);
    }
    case DType::BF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return ssmc::bf16ToFloat(h);
    }
    case DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    default: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    }
  };
  if (t.dtype != DType::F16 && t.dtype != DType::BF16 &&
      t.dtype != DType::F32 && t.dtype != DType::F64)
    return std::nullopt;
  if (t.numel() == 0)
    return std::nullopt;
  std::vector<int64_t> strides = t.effectiveStrides();
  size_t item = ssmc::dtypeSize(t.dtype);
  std::vector<int64_t> index(t.shape.size(), 0);
  for (int64_t n = 0, total = t.numel(); n < total; ++n) {
    int64_t offset = 0;
    for (size_t d = 0; d < index.size(); ++d)
      offset += index[d] * strides[d];
    if (!std::isfinite(read(static_cast<const char *>(t.data) + offset * item)))
      return index;
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < t.shape[d])
        break;
      index[d] = 0;
    }
  }
  return std::nullopt;
}

/// Names argument or result `index` of `fn` in messages; the text is built
/// only for an error.
struct ArgName {
  const ssmc::FunctionInfo *fn;
  size_t index;
  bool output;

  std::string str() const {
    if (output)
      return "out= result #" + std::to_string(index) + " of '" + fn->name +
             "' (" + ssmc::describe(fn->results[index]) + ")";
    return "argument '" + fn->argNames[index] + "' of '" + fn->name + "' (" +
           ssmc::describe(fn->inputs[index]) + ")";
  }
  friend std::string operator+(const ArgName &n, const char *s) {
    return n.str() + s;
  }
};

/// PyTorch's tensor type and dtypes, once a tensor has been seen (ssmc
/// does not import torch itself).
struct TorchTypes {
  PyObject *tensor = nullptr;
  std::vector<std::pair<py::object, DType>> dtypes;
  py::object fromDLPack;

  static TorchTypes *&instance() {
    static TorchTypes *types = nullptr; // never freed: outlives Python
    return types;
  }
  static const TorchTypes *get() { return instance(); }
  /// Set up from `obj` if it is a torch.Tensor.
  static void init(py::handle obj) {
    if (instance())
      return;
    py::object torch = py::module_::import("sys").attr("modules").attr("get")(
        "torch");
    if (torch.is_none())
      return;
    py::object tensorType = torch.attr("Tensor");
    if (!PyObject_TypeCheck(obj.ptr(), reinterpret_cast<PyTypeObject *>(tensorType.ptr())))
      return;
    auto *types = new TorchTypes;
    types->tensor = tensorType.release().ptr();
    for (auto [name, dt] :
         {std::pair{"float16", DType::F16}, {"bfloat16", DType::BF16},
          {"float32", DType::F32}, {"float64", DType::F64},
          {"bool", DType::I1}, {"int8", DType::I8}, {"int16", DType::I16},
          {"int32", DType::I32}, {"int64", DType::I64}})
      types->dtypes.emplace_back(torch.attr(name), dt);
    types->fromDLPack = torch.attr("_C").attr("_from_dlpack");
    instance() = types;
  }
  std::optional<DType> dtypeOf(py::handle dtype) const {
    for (const auto &[object, dt] : dtypes)
      if (object.ptr() == dtype.ptr())
        return dt;
    return std::nullopt;
  }
};

/// Storage for one call's converted arguments: the Python objects (and
/// DLPack capsules) whose memory the tensors view, and scalar values.
struct CallArgs {
  std::vector<Tensor> inputs;
  std::vector<py::object> keepAlive;
  std::vector<std::unique_ptr<int64_t>> scalars;
  bool torchInputs = false;
};

/// `obj` as a tensor view of what `what` declares; `keepAlive` receives
/// objects that must outlive the call.
class Converter {
public:
  Converter(CallArgs &args) : args(args) {}

  Tensor convert(py::handle obj, const ssmc::ArgInfo &want,
                 const ArgName &what, bool writable) {
    if (py::isinstance<py::array>(obj))
      return fromArray(py::reinterpret_borrow<py::array>(obj), what, writable);
    if (const TorchTypes *torch = TorchTypes::get();
        torch && PyObject_TypeCheck(obj.ptr(), reinterpret_cast<PyTypeObject *>(torch->tensor)))
      return fromTorch(obj, *torch, what);
    if (py::hasattr(obj, "__dlpack__"))
      return fromDLPack(obj, what);
    if (!want.isTensor && !writable)
      return fromScalar(obj, want, what);
    if (writable)
      raise(gArgumentError, what + " must be a NumPy array or a tensor with "
                                   "__dlpack__, got " +
                                   std::string(py::str(obj.get_type().attr(
                                       "__name__"))));
    if (!py::isinstance<py::list>(obj) && !py::isinstance<py::tuple>(obj))
      raise(gArgumentError, what + " must be a NumPy array, a tensor with "
                                   "__dlpack__ or a nested list of numbers, "
                                   "got " +
                                   std::string(py::str(obj.get_type().attr(
                                       "__name__"))));
    // Nested lists: an array of the declared dtype (a copy).
    std::optional<py::dtype> dt = numpyDType(want.dtype);
    if (!dt)
      raise(gArgumentError,
            what + " has dtype bf16: pass a torch.bfloat16 tensor");
    py::array arr;
    try {
      arr = py::module_::import("numpy").attr("asarray")(obj, *dt);
    } catch (py::error_already_set &e) {
      raise(gArgumentError, what + " must be a NumPy array, a tensor with "
                                   "__dlpack__ or a nested sequence of "
                                   "numbers, got " +
                                   pyRepr(obj).substr(0, 80));
    }
    return fromArray(arr, what, false);
  }

private:
  Tensor fromArray(py::array arr, const ArgName &what, bool writable) {
    std::optional<DType> dt = fromNumpy(arr.dtype());
    if (!dt)
      raise(gArgumentError, what + " has NumPy dtype " +
                                std::string(py::str(arr.dtype())) +
                                ", which ssmc does not take");
    if (writable && !arr.writeable())
      raise(gArgumentError, what + " is read-only");
    Tensor t;
    t.dtype = *dt;
    t.data = const_cast<void *>(arr.data());
    ssize_t rank = arr.ndim();
    t.shape.assign(arr.shape(), arr.shape() + rank);
    ssize_t item = arr.itemsize();
    bool contiguous = arr.flags() & py::array::c_style;
    if (!contiguous) {
      t.strides.resize(rank);
      for (ssize_t d = 0; d < rank; ++d) {
        ssize_t s = arr.strides()[d];
        if (s % item != 0) {
          // Unaligned strides (a view into a record array): a copy.
          if (writable)
            raise(gArgumentError, what + " has strides that are not a "
                                         "multiple of its element size");
          arr = py::array::ensure(arr.attr("copy")());
          return fromArray(arr, what, writable);
        }
        t.strides[d] = s / item;
      }
    }
    args.keepAlive.push_back(std::move(arr));
    return t;
  }

  /// A PyTorch tensor, read through its attributes (cheaper than a
  /// DLPack export per call).
  Tensor fromTorch(py::handle obj, const TorchTypes &torch,
                   const ArgName &what) {
    Tensor t;
    std::optional<DType> dt = torch.dtypeOf(obj.attr("dtype"));
    if (!dt)
      raise(gArgumentError, what + " has torch dtype " +
                                std::string(py::str(obj.attr("dtype"))) +
                                ", which ssmc does not take");
    t.dtype = *dt;
    std::string device = py::str(obj.attr("device").attr("type"));
    if (device == "cuda")
      t.device = ssmc::Device::CUDA;
    else if (device != "cpu")
      raise(gArgumentError,
            what + " is on torch device '" + device + "', not cpu or cuda");
    t.data = reinterpret_cast<void *>(
        py::cast<uintptr_t>(obj.attr("data_ptr")()));
    py::tuple shape = obj.attr("shape");
    py::tuple strides = obj.attr("stride")();
    t.shape.resize(shape.size());
    t.strides.resize(shape.size());
    for (size_t d = 0; d < shape.size(); ++d) {
      t.shape[d] = py::cast<int64_t>(shape[d]);
      t.strides[d] = py::cast<int64_t>(strides[d]);
    }
    if (t.isContiguous())
      t.strides.clear();
    args.torchInputs = true;
    args.keepAlive.push_back(py::reinterpret_borrow<py::object>(obj));
    return t;
  }

  Tensor fromDLPack(py::handle obj, const ArgName &what) {
    py::object source = py::reinterpret_borrow<py::object>(obj);
    // PyTorch refuses to export a tensor that requires grad.
    if (py::hasattr(source, "requires_grad") &&
        py::bool_(source.attr("requires_grad")))
      source = source.attr("detach")();
    py::object capsule;
    try {
      capsule = source.attr("__dlpack__")();
    } catch (py::error_already_set &e) {
      raise(gArgumentError,
            what + ": __dlpack__ failed: " + std::string(e.what()));
    }
    auto *managed = static_cast<ssmc::python::DLManagedTensor *>(
        PyCapsule_GetPointer(capsule.ptr(), "dltensor"));
    if (!managed) {
      PyErr_Clear();
      raise(gArgumentError,
            what + ": __dlpack__ did not return a DLPack capsule");
    }
    llvm::Expected<Tensor> t = ssmc::python::tensorOf(managed->dl_tensor);
    if (!t)
      raise(gArgumentError, what + " " + llvm::toString(t.takeError()));
    std::string module = py::str(obj.get_type().attr("__module__"));
    if (module.rfind("torch", 0) == 0)
      args.torchInputs = true;
    // Read PyTorch tensors directly from now on.
    TorchTypes::init(obj);
    // The capsule's destructor calls the producer's deleter.
    args.keepAlive.push_back(std::move(capsule));
    args.keepAlive.push_back(std::move(source));
    return *t;
  }

  Tensor fromScalar(py::handle obj, const ssmc::ArgInfo &want,
                    const ArgName &what) {
    auto storage = std::make_unique<int64_t>(0);
    void *p = storage.get();
    bool isBool = PyBool_Check(obj.ptr());
    bool isInt = !isBool && PyLong_Check(obj.ptr());
    bool isFloat = PyFloat_Check(obj.ptr());
    if (!isBool && !isInt && !isFloat) {
      // NumPy scalars and other numbers.
      if (py::hasattr(obj, "__index__") && !py::hasattr(obj, "is_integer"))
        isInt = true;
      else if (py::hasattr(obj, "__float__"))
        isFloat = true;
      else
        raise(gArgumentError, what + " is a scalar: pass a Python number, got " +
                                  std::string(py::str(obj.get_type().attr(
                                      "__name__"))));
    }
    switch (want.dtype) {
    case DType::F16:
    case DType::BF16:
    case DType::F32:
    case DType::F64: {
      if (isBool)
        raise(gArgumentError, what + " is a float scalar, got a bool");
      double v = py::cast<double>(py::float_(py::reinterpret_borrow<py::object>(obj)));
      if (want.dtype == DType::F64)
        std::memcpy(p, &v, sizeof v);
      else if (want.dtype == DType::F32) {
        float f = float(v);
        std::memcpy(p, &f, sizeof f);
      } else {
        uint16_t h = want.dtype == DType::F16 ? ssmc::floatToHalf(float(v))
                                              : ssmc::floatToBf16(float(v));
        std::memcpy(p, &h, sizeof h);
      }
      break;
    }
    case DType::I1: {
      if (!isBool && !isInt)
        raise(gArgumentError, what + " is a bool scalar, got " + pyRepr(obj));
      int64_t v = py::cast<int64_t>(py::int_(py::reinterpret_borrow<py::object>(obj)));
      if (v != 0 && v != 1)
        raise(gArgumentError,
              what + " is a bool scalar, got " + std::to_string(v));
      *static_cast<uint8_t *>(p) = uint8_t(v);
      break;
    }
    default: {
      if (!isInt && !isBool)
        raise(gArgumentError,
              what + " is an integer scalar, got " + pyRepr(obj));
      int64_t v;
      try {
        v = py::cast<int64_t>(py::int_(py::reinterpret_borrow<py::object>(obj)));
      } catch (py::cast_error &) {
        raise(gArgumentError,
              what + " is out of range: " + pyRepr(obj).substr(0, 40));
      }
      size_t bits = 8 * ssmc::dtypeSize(want.dtype);
      if (bits < 64 && (v < -(int64_t(1) << (bits - 1)) ||
                        v >= (int64_t(1) << (bits - 1))))
        raise(gArgumentError, what + " is out of range for " +
                                  ssmc::dtypeName(want.dtype).str() + ": " +
                                  std::to_string(v));
      // Little-endian: the low bytes hold the narrower integer.
      std::memcpy(p, &v, sizeof v);
      break;
    }
    }
    Tensor t;
    t.dtype = want.dtype;
    t.data = p;
    args.scalars.push_back(std::move(storage));
    return t;
  }

  CallArgs &args;
};

/// Frees an OwnedTensor that a NumPy array or DLPack capsule owns.
void deleteOwned(void *p) { delete static_cast<ssmc::OwnedTensor *>(p); }

/// `t` as a NumPy array owning its storage (no copy).
py::object toNumpy(std::unique_ptr<ssmc::OwnedTensor> t) {
  std::optional<py::dtype> dt = numpyDType(t->dtype());
  if (!dt)
    raise(gArgumentError, "a bf16 result needs PyTorch (pass torch tensors, "
                          "or install python3-torch)");
  std::vector<ssize_t> shape(t->shape().begin(), t->shape().end());
  void *data = t->data();
  py::capsule owner(t.release(), [](void *p) { deleteOwned(p); });
  return py::array(*dt, shape, {}, data, owner);
}

py::object torchFromDLPack() {
  if (const TorchTypes *torch = TorchTypes::get())
    return torch->fromDLPack;
  // Never destroyed: its destructor would run after the interpreter ends.
  static py::object *fn = new py::object(
      py::module_::import("torch.utils.dlpack").attr("from_dlpack"));
  return *fn;
}

/// `t` as a PyTorch tensor owning its storage (DLPack, no copy).
py::object toTorch(std::unique_ptr<ssmc::OwnedTensor> t) {
  py::capsule capsule = ssmc::python::makeCapsule(std::move(t));
  return torchFromDLPack()(capsule);
}

/// One entry of a program, callable from Python.
class Entry {
public:
  Entry(std::shared_ptr<ProgramHandle> program, size_t index)
      : program(std::move(program)), index(index) {}

  const ssmc::FunctionInfo &fn() const {
    return program->jit->functions()[index];
  }

  /// The converted inputs of a call: positional `args`, then `kwargs` by
  /// `ssm.name` (ArgumentBinder's rules and messages).
  void bindInputs(const py::args &pargs, const py::kwargs &kwargs,
                  CallArgs &call) const {
    const ssmc::FunctionInfo &f = fn();
    ssmc::ArgumentBinder binder(f, "input");
    std::vector<py::handle> given(f.inputs.size());
    for (py::handle a : pargs) {
      llvm::Expected<size_t> slot = binder.byPosition();
      if (!slot)
        raiseCallError(slot.takeError());
      given[*slot] = a;
    }
    for (auto [k, v] : kwargs) {
      std::string name = py::str(k);
      if (name == "out")
        continue;
      llvm::Expected<size_t> slot = binder.byName(name);
      if (!slot)
        raiseCallError(slot.takeError());
      given[*slot] = v;
    }
    if (llvm::Error e = binder.checkComplete())
      raiseCallError(std::move(e));
    Converter converter(call);
    call.inputs.reserve(given.size());
    for (size_t i = 0; i < given.size(); ++i)
      call.inputs.push_back(converter.convert(given[i], f.inputs[i],
                                              ArgName{&f, i, false},
                                              /*writable=*/false));
  }

  py::object call(const py::args &pargs, const py::kwargs &kwargs) {
    const ssmc::FunctionInfo &f = fn();
    CallArgs call;
    bindInputs(pargs, kwargs, call);
    if (program->checkFinite)
      for (size_t i = 0; i < call.inputs.size(); ++i)
        if (auto at = firstNonFinite(call.inputs[i]))
          raise(gArgumentError,
                ArgName{&f, i, false} + " has a NaN or infinity at " +
                    ssmc::formatShape(*at) +
                    " (the program was compiled with check_finite=True)");
    py::object out = py::none();
    if (kwargs.contains("out"))
      out = kwargs["out"];
    if (!out.is_none())
      return callInto(call, out);

    std::vector<std::unique_ptr<ssmc::OwnedTensor>> results;
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release noGil;
      if (f.outParams) {
        // Static result shapes: the code writes straight into the storage
        // the returned arrays own.
        std::vector<Tensor> views;
        for (const ssmc::ArgInfo &r : f.results) {
          results.push_back(
              std::make_unique<ssmc::OwnedTensor>(r.dtype, r.shape));
          views.push_back(results.back()->view());
        }
        error = program->jit->invoke(f.name, call.inputs, views);
      } else {
        llvm::Expected<std::vector<ssmc::OwnedTensor>> r =
            program->jit->run(f.name, call.inputs);
        if (!r)
          error = r.takeError();
        else
          for (ssmc::OwnedTensor &t : *r)
            results.push_back(
                std::make_unique<ssmc::OwnedTensor>(std::move(t)));
      }
    }
    if (error)
      raiseCallError(std::move(error));
    bool asTorch = call.torchInputs;
    for (auto &r : results)
      if (r->dtype() == DType::BF16)
        asTorch = true;
    std::vector<py::object> objects;
    for (auto &r : results)
      objects.push_back(asTorch ? toTorch(std::move(r))
                                : toNumpy(std::move(r)));
    return pack(objects);
  }

  /// Destination passing: results written into `out` (one array/tensor, or
  /// a tuple/list of them), which is returned.
  py::object callInto(CallArgs &call, py::object out) {
    const ssmc::FunctionInfo &f = fn();
    std::vector<py::handle> outs;
    bool sequence = py::isinstance<py::tuple>(out) || py::isinstance<py::list>(out);
    if (sequence)
      for (py::handle o : out)
        outs.push_back(o);
    else
      outs.push_back(out);
    if (outs.size() != f.results.size())
      raise(gArgumentError, "'" + f.name + "' returns " +
                                std::to_string(f.results.size()) +
                                " results, got " + std::to_string(outs.size()) +
                                " out= tensors");
    Converter converter(call);
    std::vector<Tensor> views;
    for (size_t i = 0; i < outs.size(); ++i)
      views.push_back(converter.convert(outs[i], f.results[i],
                                        ArgName{&f, i, true},
                                        /*writable=*/true));
    llvm::Error error = llvm::Error::success();
    {
      py::gil_scoped_release noGil;
      error = program->jit->invoke(f.name, call.inputs, views);
    }
    if (error)
      raiseCallError(std::move(error));
    return out;
  }

  /// Seconds per call of the compiled entry on these arguments, timed in
  /// C++ around Jit::invoke (the code's own time, without Python).
  double time(const py::args &pargs, const py::kwargs &kwargs) {
    const ssmc::FunctionInfo &f = fn();
    int repeat = 100;
    py::kwargs rest;
    for (auto [k, v] : kwargs) {
      if (std::string(py::str(k)) == "repeat")
        repeat = py::cast<int>(v);
      else
        rest[k] = v;
    }
    if (repeat < 1)
      raise(gArgumentError, "repeat must be positive");
    CallArgs call;
    bindInputs(pargs, rest, call);
    std::vector<ssmc::OwnedTensor> results;
    std::vector<Tensor> views;
    for (const ssmc::ArgInfo &r : f.results) {
      if (!f.outParams)
        break;
      results.emplace_back(r.dtype, r.shape);
    }
    for (ssmc::OwnedTensor &t : results)
      views.push_back(t.view());
    llvm::Error error = llvm::Error::success();
    double seconds = 0;
    {
      py::gil_scoped_release noGil;
      auto once = [&]() -> llvm::Error {
        if (f.outParams)
          return program->jit->invoke(f.name, call.inputs, views);
        llvm::Expected<std::vector<ssmc::OwnedTensor>> r =
            program->jit->run(f.name, call.inputs);
        return r ? llvm::Error::success() : r.takeError();
      };
      error = once(); // warm-up
      if (!error) {
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < repeat && !error; ++i)
          error = once();
        seconds = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count() /
                  repeat;
      }
    }
    if (error)
      raiseCallError(std::move(error));
    return seconds;
  }

  py::dict info() const {
    const ssmc::FunctionInfo &f = fn();
    auto types = [](const std::vector<ssmc::ArgInfo> &infos) {
      py::list l;
      for (const ssmc::ArgInfo &a : infos) {
        py::object shape = py::none();
        if (a.isTensor) {
          py::list dims;
          for (int64_t d : a.shape)
            dims.append(d < 0 ? py::object(py::none()) : py::int_(d));
          shape = py::tuple(dims);
        }
        l.append(py::make_tuple(ssmc::dtypeName(a.dtype).str(), shape));
      }
      return l;
    };
    py::dict d;
    d["name"] = f.name;
    d["arg_names"] = f.argNames;
    d["inputs"] = types(f.inputs);
    d["results"] = types(f.results);
    d["destination_passing"] = f.outParams;
    return d;
  }

  std::string repr() const {
    const ssmc::FunctionInfo &f = fn();
    std::string s = "<ssmc.Entry " + f.name + "(";
    for (size_t i = 0; i < f.inputs.size(); ++i)
      s += (i ? ", " : "") + f.argNames[i] + ": " +
           ssmc::describe(f.inputs[i]);
    s += ") -> (";
    for (size_t i = 0; i < f.results.size(); ++i)
      s += (i ? ", " : "") + ssmc::describe(f.results[i]);
    return s + ")>";
  }

private:
  static py::object pack(std::vector<py::object> &objects) {
    if (objects.size() == 1)
      return objects[0];
    py::tuple t(objects.size());
    for (size_t i = 0; i < objects.size(); ++i)
      t[i] = objects[i];
    return std::move(t);
  }

  std::shared_ptr<ProgramHandle> program;
  size_t index;
};

/// The native program: its entries by name.
class Program {
public:
  explicit Program(std::shared_ptr<ProgramHandle> handle)
      : handle(std::move(handle)) {}

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const ssmc::FunctionInfo &f : handle->jit->functions())
      names.push_back(f.name);
    return names;
  }

  Entry entry(const std::string &name) const {
    const auto &fns = handle->jit->functions();
    for (size_t i = 0; i < fns.size(); ++i)
      if (fns[i].name == name)
        return Entry(handle, i);
    llvm::Expected<const ssmc::FunctionInfo *> f = handle->jit->function(name);
    raise(PyExc_KeyError, f ? name : llvm::toString(f.takeError()));
  }

  std::shared_ptr<ProgramHandle> handle;
};

ssmc::JitOptions makeOptions(const std::string &target, int threads,
                             int optLevel) {
  ssmc::JitOptions options;
  if (target == "cpu")
    options.target = ssmc::Target::CPU;
  else if (target == "cuda")
    options.target = ssmc::Target::CUDA;
  else if (target == "gpu-emulator")
    options.target = ssmc::Target::GPUEmulator;
  else
    raise(gArgumentError, "target must be 'cpu', 'cuda' or 'gpu-emulator', "
                          "got '" + target + "'");
  if (threads < 0)
    raise(gArgumentError,
          "threads must be >= 0 (0: the runtime chooses), got " +
              std::to_string(threads));
  if (optLevel < 0 || optLevel > 3)
    raise(gArgumentError,
          "opt_level must be 0-3, got " + std::to_string(optLevel));
  options.threads = unsigned(threads);
  options.optLevel = unsigned(optLevel);
  return options;
}

Program compileProgram(const std::string &source, const std::string &name,
                       const std::string &target, int threads, int optLevel,
                       bool keepObject) {
  ssmc::JitOptions options = makeOptions(target, threads, optLevel);
  options.keepObject = keepObject;
  std::unique_ptr<ssmc::Jit> jit;
  std::string error;
  {
    py::gil_scoped_release noGil;
    llvm::Expected<std::unique_ptr<ssmc::Jit>> compiled =
        ssmc::Jit::compile(source, options, name);
    if (compiled)
      jit = std::move(*compiled);
    else
      error = llvm::toString(compiled.takeError());
  }
  if (!jit)
    raise(gCompileError, error);
  auto handle = std::make_shared<ProgramHandle>();
  handle->jit = std::move(jit);
  handle->target = target;
  return Program(std::move(handle));
}

/// A program Program.save wrote, loaded without compiling.
Program loadProgram(const std::string &path, const std::string &name,
                    const std::string &target, int threads, int optLevel) {
  ssmc::JitOptions options = makeOptions(target, threads, optLevel);
  std::unique_ptr<ssmc::Jit> jit;
  std::string error;
  {
    py::gil_scoped_release noGil;
    llvm::Expected<std::unique_ptr<ssmc::Jit>> loaded =
        ssmc::Jit::load(path, options);
    if (loaded)
      jit = std::move(*loaded);
    else
      error = llvm::toString(loaded.takeError());
  }
  if (!jit)
    raise(gCompileError, error);
  auto handle = std::make_shared<ProgramHandle>();
  handle->jit = std::move(jit);
  handle->target = target;
  handle->fromDiskCache = true;
  (void)name;
  return Program(std::move(handle));
}

PyObject *makeException(py::module_ &m, const char *name, PyObject *bases,
                        const char *doc) {
  std::string qualified = std::string("ssmc.") + name;
  PyObject *type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases,
                                             nullptr);
  if (!type)
    throw py::error_already_set();
  m.add_object(name, py::handle(type));
  return type;
}

} // namespace

PYBIND11_MODULE(_ssmc, m) {
  m.doc() = "ssmc's compiler and runtime (use the ssmc package)";

  gError = makeException(m, "Error", PyExc_Exception,
                         "Base of the errors ssmc raises.");
  gArgumentError = makeException(
      m, "ArgumentError",
      py::make_tuple(py::handle(gError), py::handle(PyExc_ValueError))
          .release()
          .ptr(),
      "Bad arguments: a wrong count, name, dtype, rank or shape.");
  gCompileError = makeException(
      m, "CompileError",
      py::make_tuple(py::handle(gError), py::handle(PyExc_ValueError))
          .release()
          .ptr(),
      "A program or compile option ssmc rejects.");
  gRunError = makeException(
      m, "RunError",
      py::make_tuple(py::handle(gError), py::handle(PyExc_RuntimeError))
          .release()
          .ptr(),
      "A failure while compiled code runs (e.g. a CUDA error).");

  py::class_<Entry>(m, "Entry")
      .def("__call__", &Entry::call)
      .def("time", &Entry::time,
           "Seconds per call of the compiled code on these arguments, timed "
           "in C++ (repeat= calls after one warm-up).")
      .def_property_readonly("info", &Entry::info)
      .def_property_readonly("name",
                             [](const Entry &e) { return e.fn().name; })
      .def("__repr__", &Entry::repr);

  py::class_<Program>(m, "Program")
      .def_property_readonly("entries", &Program::entries)
      .def("entry", &Program::entry)
      .def_property_readonly(
          "target", [](const Program &p) { return p.handle->target; })
      .def_property_readonly(
          "last_call_peak_heap_bytes",
          [](const Program &p) {
            return p.handle->jit->lastCallPeakHeapBytes();
          },
          "Peak heap the compiled code held during the last call (its own "
          "buffers, not the caller's arrays; process-wide accounting).")
      .def_property(
          "check_finite",
          [](const Program &p) { return p.handle->checkFinite; },
          [](Program &p, bool on) { p.handle->checkFinite = on; },
          "Whether calls reject float inputs holding NaN or infinity.")
      .def_property_readonly("from_disk_cache",
                             [](const Program &p) {
                               return p.handle->fromDiskCache;
                             })
      .def(
          "save",
          [](const Program &p, const std::string &path) {
            llvm::Error e = p.handle->jit->save(path);
            if (e)
              raise(gCompileError, llvm::toString(std::move(e)));
          },
          "Writes the compiled code for load() (compile with "
          "keep_object=True).");

  m.def("compile", &compileProgram, py::arg("source"), py::arg("name"),
        py::arg("target"), py::arg("threads"), py::arg("opt_level"),
        py::arg("keep_object") = false,
        "Compiles MLIR text; `name` is used in diagnostics.");
  m.def("load", &loadProgram, py::arg("path"), py::arg("name"),
        py::arg("target"), py::arg("threads"), py::arg("opt_level"),
        "Loads a program Program.save wrote (CompileError if it does not "
        "load).");
  m.attr("can_save_objects") = true;
  m.def("host_cpu", [] {
    // Sorted: StringMap's order is not stable between processes.
    std::vector<std::string> features;
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      if (f.second)
        features.push_back(f.first().str());
    std::sort(features.begin(), features.end());
    std::string s = llvm::sys::getHostCPUName().str();
    for (const std::string &f : features)
      s += ",+" + f;
    return s;
  });
  m.attr("version") = SSMC_VERSION;
  m.def("dtype_names", [] {
    std::vector<std::string> names;
    for (DType t : {DType::F16, DType::BF16, DType::F32, DType::F64, DType::I1,
                    DType::I8, DType::I16, DType::I32, DType::I64})
      names.push_back(ssmc::dtypeName(t).str());
    return names;
  });
}
