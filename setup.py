"Package build: every fact comes from settings.ini, the single source of metadata."
from configparser import ConfigParser
import setuptools

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
licenses = dict(apache2='Apache-2.0', mit='MIT')
requirements = cfg.get('requirements', '').split()
deploy_requirements = cfg.get('deploy_requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split() + deploy_requirements   # CI tests the deploy extra too
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'], license=licenses[cfg['license']],
    url=cfg['git_url'], keywords=cfg['keywords'].split(), python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=[cfg['lib_name'], f"{cfg['lib_name']}.*"]),
    include_package_data=True, install_requires=requirements, extras_require={'dev': dev_requirements, 'deploy': deploy_requirements},
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_name']}={cfg['lib_name']}._modidx:d"]},
    zip_safe=False,
)
