"""Write the Sphinx inventories (objects.inv format) that docs/conf.py's intersphinx reads from docs/inventories/.

    python docs/inventories.py      # rewrites docs/inventories/{fastai,fastcore,torch,timm,timm_src}.inv

The docs build has no network, so the inventories are generated here from the installed packages and committed:
fastai and fastcore from the `_modidx.py` that nbdev ships in each (every symbol with its page and anchor on
docs.fast.ai / fastcore.fast.ai); PyTorch from its public modules and the URL scheme of its API reference
(`generated/torch.nn.Linear.html`, a few pages listed by hand); timm from the functions of its reference pages, and
its model classes pointing to their source on GitHub. Rerun after upgrading one of them."""
import importlib, inspect, zlib
from pathlib import Path

OUT = Path(__file__).parent/'inventories'

def write_inv(name, version, entries):
    "entries: {full name: (role, uri)}; the uri is relative to the intersphinx base URL"
    lines = ''.join(f'{nm} py:{role} 1 {uri} -\n' for nm, (role, uri) in sorted(entries.items()))
    head = f'# Sphinx inventory version 2\n# Project: {name}\n# Version: {version}\n# The remainder of this file is compressed using zlib.\n'
    OUT.mkdir(exist_ok=True)
    (OUT/f'{name}.inv').write_bytes(head.encode() + zlib.compress(lines.encode()))
    print(f'{name}: {len(entries)} names')

def _role(full):
    "class, method or function, from the name's shape (as nbdev names them: module.Class.method)"
    parts = full.split('.')
    if len(parts) > 2 and parts[-2][:1].isupper(): return 'method'
    return 'class' if parts[-1][:1].isupper() else 'function'

def nbdev_inv(pkg):
    mod = importlib.import_module(pkg)
    idx = importlib.import_module(f'{pkg}._modidx').d
    entries = {nm: (_role(nm), url) for syms in idx['syms'].values() for nm, (url, _) in syms.items() if url}
    write_inv(pkg, mod.__version__, entries)

def torch_inv():
    import torch, torch.nn, torch.nn.functional, torch.optim, torch.optim.lr_scheduler, torch.nn.attention, torch.utils.data
    e = {}
    def add(full, obj, role, uri):
        e[full] = (role, uri)
        if inspect.isclass(obj) and f'{obj.__module__}.{obj.__qualname__}' != full:  # as annotations print it
            e[f'{obj.__module__}.{obj.__qualname__}'] = (role, uri)
    for modname in ('torch.nn', 'torch.nn.functional', 'torch.optim', 'torch.optim.lr_scheduler', 'torch.nn.attention'):
        m = importlib.import_module(modname)
        for nm in getattr(m, '__all__', dir(m)):
            obj = getattr(m, nm, None)
            if nm.startswith('_') or obj is None or not (getattr(obj, '__module__', None) or '').startswith('torch'): continue
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
                add(f'{modname}.{nm}', obj, 'class' if inspect.isclass(obj) else 'function', f'generated/{modname}.{nm}.html')
    for nm in torch.__all__:
        obj = getattr(torch, nm, None)
        if nm[:1].islower() and (inspect.isfunction(obj) or inspect.isbuiltin(obj)): add(f'torch.{nm}', obj, 'function', f'generated/torch.{nm}.html')
    for nm in ('Dataset', 'DataLoader', 'Sampler', 'IterableDataset', 'TensorDataset', 'RandomSampler', 'SequentialSampler',
               'BatchSampler', 'WeightedRandomSampler', 'Subset', 'ConcatDataset', 'random_split', 'default_collate'):
        obj = getattr(torch.utils.data, nm)
        add(f'torch.utils.data.{nm}', obj, 'class' if inspect.isclass(obj) else 'function', f'data.html#torch.utils.data.{nm}')
    for full, role, uri in [('torch.Tensor', 'class', 'tensors.html#torch.Tensor'), ('torch.device', 'class', 'tensor_attributes.html#torch.device'),
                            ('torch.dtype', 'class', 'tensor_attributes.html#torch.dtype'), ('torch.autocast', 'class', 'amp.html#torch.autocast'),
                            ('torch.no_grad', 'class', 'generated/torch.no_grad.html'), ('torch.inference_mode', 'class', 'generated/torch.inference_mode.html'),
                            ('torch.Generator', 'class', 'generated/torch.Generator.html'),
                            ('torch.utils.checkpoint.checkpoint', 'function', 'checkpoint.html#torch.utils.checkpoint.checkpoint')]:
        obj = torch
        for p in full.split('.')[1:]: obj = getattr(obj, p, None)
        add(full, obj, role, uri)
    write_inv('torch', torch.__version__.split('+')[0], e)

def timm_inv():
    import timm, timm.data, timm.optim, timm.scheduler, timm.models
    ref = {'reference/models': ['timm.create_model', 'timm.list_models', 'timm.list_pretrained', 'timm.is_model', 'timm.list_modules',
                                'timm.model_entrypoint', 'timm.models.load_checkpoint'],
           'reference/data': ['timm.data.create_dataset', 'timm.data.create_loader', 'timm.data.create_transform', 'timm.data.resolve_data_config'],
           'reference/optimizers': ['timm.optim.create_optimizer_v2'],
           'reference/schedulers': ['timm.scheduler.CosineLRScheduler', 'timm.scheduler.StepLRScheduler']}
    write_inv('timm', timm.__version__, {nm: (_role(nm), f'{page}#{nm}') for page, nms in ref.items() for nm in nms})
    src = {}
    for modname, classes in [('vision_transformer', ['VisionTransformer', 'Block', 'Attention', 'LayerScale']), ('cait', ['Cait', 'ClassAttn']),
                             ('vision_transformer_hybrid', ['HybridEmbed']), ('swin_transformer', ['SwinTransformer']), ('deit', ['VisionTransformerDistilled'])]:
        m = importlib.import_module(f'timm.models.{modname}')
        for c in classes:
            cls = getattr(m, c)
            f = Path(inspect.getsourcefile(cls)).relative_to(Path(timm.__file__).parents[1]).as_posix()
            uri = f'{f}#L{inspect.getsourcelines(cls)[1]}'
            src[f'timm.models.{modname}.{c}'] = ('class', uri)
            src[f'{cls.__module__}.{cls.__qualname__}'] = ('class', uri)
    write_inv('timm_src', timm.__version__, src)

if __name__ == '__main__':
    for p in ('fastai', 'fastcore'): nbdev_inv(p)
    torch_inv(); timm_inv()
